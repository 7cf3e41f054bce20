"""kafka-monitor: watch a Kafka data flow end to end from Airflow.

Rooms, one concern each (data flows down this list, never up; tests/test_import_graph.py
checks there is no import circle):

- ``tasks``        the one Airflow adapter the DAG files call; ``__main__`` the command line
- ``lag/``         consumer lag over SSH: ``command`` (the bounded describe command), ``ssh``
                   (run it, classify failures), ``describe`` (the parser), ``pipeline`` (one topic)
- ``jmx/``         JMX snapshots: ``object_name`` (ObjectName grammar), ``presets`` (preset
                   loader), ``snapshot`` (jar run, parse, documents)
- ``cloudwatch/``  the MSK dashboard as code: ``render``, ``validate``, ``sync``, ``metrics``
                   (lag as custom metrics), ``aws`` (client and error mapping), ``errors``
- ``store/``       ``documents`` (documents, ids, status recorder), ``sink`` (bulk indexing,
                   templates, retention), ``clients`` (the providers' store clients)
- ``config/``      ``schema`` (the YAML configuration's models, loading), ``validators``
                   (field rules shared with the other rooms)
- leaves           ``vocabulary`` (components, status values), ``timestamps``, ``datafile``
                   (YAML files), ``errors``, ``paths`` (include/)
"""

__version__ = "0.1.0"
