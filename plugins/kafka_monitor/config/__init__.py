"""Configuration: the schema of kafka_monitor.yaml, validated on load."""
