"""The search store's client, built by the Airflow provider from the store's connection.

The one place that knows how each provider hands out its client, so a provider upgrade that
changes it fails here, by name, and in ``tests/test_sinks.py`` (which pins both shapes):

- elasticsearch: ``ElasticsearchSQLHook(elasticsearch_conn_id=...).get_conn()`` is a DB-API
  connection whose ``es`` attribute is the ``elasticsearch.Elasticsearch`` client (host, port,
  schema http/https, login/password as basic auth, every extra passed to the client);
- opensearch: ``OpenSearchHook(open_search_conn_id=...).client`` is the
  ``opensearchpy.OpenSearch`` client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kafka_monitor.errors import ConfigError

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch
    from opensearchpy import OpenSearch


class ProviderChanged(ConfigError):
    """The installed provider no longer hands out its client the way this module expects."""


def elasticsearch_client(conn_id: str) -> Elasticsearch:
    from airflow.providers.elasticsearch.hooks.elasticsearch import ElasticsearchSQLHook
    from elasticsearch import Elasticsearch

    connection = ElasticsearchSQLHook(elasticsearch_conn_id=conn_id).get_conn()
    client = getattr(connection, "es", None)  # the provider's attribute, checked rather than trusted
    if not isinstance(client, Elasticsearch):
        raise ProviderChanged(
            f"store.conn_id: the elasticsearch provider's connection ({type(connection).__name__}) no longer "
            f"carries an elasticsearch.Elasticsearch client as .es (found {type(client).__name__}); "
            "kafka_monitor.store.clients must follow the provider"
        )
    return client


def opensearch_client(conn_id: str) -> OpenSearch:
    from airflow.providers.opensearch.hooks.opensearch import OpenSearchHook
    from opensearchpy import OpenSearch

    client: Any = OpenSearchHook(open_search_conn_id=conn_id, log_query=False).client
    if not isinstance(client, OpenSearch):
        raise ProviderChanged(
            f"store.conn_id: the opensearch provider's hook no longer gives an opensearchpy.OpenSearch "
            f"client as .client (found {type(client).__name__}); kafka_monitor.store.clients must follow the provider"
        )
    return client
