"""Command line: ``python -m kafka_monitor <command>``.

- ``parse-describe [--group G] FILE``  parse captured ``kafka-consumer-groups.sh --describe``
  output (``-`` for stdin) and print one JSON object: rows, error, group_states.
- ``render-dashboard [--config PATH]``  print the CloudWatch dashboard body rendered from the
  configuration, for review or for deploying with other tools.
- ``check-config [--config PATH]``  validate the configuration and say what it monitors.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kafka_monitor", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("parse-describe", help="parse kafka-consumer-groups.sh --describe output")
    p.add_argument("file", help="captured output, or - for stdin")
    p.add_argument("--group", help="the group asked for (old formats print no GROUP column)")

    r = sub.add_parser("render-dashboard", help="print the rendered CloudWatch dashboard body")
    r.add_argument("--config", help="configuration file (default: as the DAG resolves it)")

    c = sub.add_parser("check-config", help="validate the configuration")
    c.add_argument("--config", help="configuration file (default: as the DAG resolves it)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "parse-describe":
        from kafka_monitor.lag.describe import cli_parse_describe

        return cli_parse_describe(args.file, args.group, sys.stdout, sys.stderr)
    if args.command == "render-dashboard":
        from kafka_monitor.cloudwatch.render import cli_render_dashboard

        return cli_render_dashboard(args.config, sys.stdout, sys.stderr)
    if args.command == "check-config":
        from kafka_monitor.config.check import cli_check_config

        return cli_check_config(args.config, sys.stdout, sys.stderr)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
