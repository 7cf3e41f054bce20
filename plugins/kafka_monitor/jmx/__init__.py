"""JMX snapshots: ObjectName patterns and presets, the jmxquery jar, documents."""
