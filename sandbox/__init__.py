"""The sandbox: real stand-ins for every part kafka-monitor talks to, on 127.0.0.1.

One implementation serves both the demo (``python -m sandbox.demo``) and the test bed
(``tests/conftest.py``). Each part is a context manager that starts a real process on a free
loopback port, waits until it answers, and stops it (and everything it started) on exit:

- ``sshd.SshServer``            OpenSSH sshd with its own host key and authorized key
- ``broker.TansuBroker``         a Kafka-protocol broker (tansu, memory storage)
- ``search.SearchStore``         an in-memory OpenSearch-compatible server (osmem-server)
- ``aws.MotoServer``             moto's server, for CloudWatch
- ``jvm.JmxJvm``                 a JVM exposing Kafka-named MBeans over remote JMX
- ``zookeeper.ZooKeeperServer``  a real standalone ZooKeeper (Debian's package) with remote JMX
- ``spark.SparkDriver``          a real local Spark driver (pyspark) with JmxSink and remote JMX
- ``airflow_home.AirflowHome``   an AIRFLOW_HOME with a migrated SQLite database
- ``mirrormaker.MirrorMakerHost`` the stand-in MirrorMaker host (sshd + kafka-consumer-groups.sh)
- ``stack.Sandbox``              all of them wired together, with the config and connections
"""
