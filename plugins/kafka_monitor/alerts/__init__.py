"""Alerts: incidents opened, escalated, reminded and resolved from the lag verdicts, kept in the
store and delivered through Airflow's notifiers (see docs/alerts.md)."""
