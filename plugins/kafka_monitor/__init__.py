"""kafka-monitor: watch a Kafka data flow end to end from Airflow.

Modules, one concern each:

- ``config``      the YAML configuration, validated on load
- ``describe``    parsing ``kafka-consumer-groups.sh --describe`` output (every Kafka version)
- ``command``     the bounded, shell-quoted remote command
- ``collect``     running it over SSH and classifying what came back
- ``documents``   the documents indexed (lag, per-topic summary, status, JMX)
- ``sinks``       bulk indexing into Elasticsearch or OpenSearch, templates, retention
- ``jmx``         JMX snapshots through jmxquery
- ``cloudwatch``  the MSK CloudWatch dashboard as code
"""

__version__ = "0.1.0"
