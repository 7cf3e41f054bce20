"""From numbers to a verdict: per-partition status, lag in seconds, rates and catch-up time.

``verdict``, ``seconds`` and ``rates`` are pure (no I/O, no clock); ``history`` reads the
window back from the store; ``topic`` turns this minute's rows plus that history into the
fields the lag documents carry; ``step`` is what the lag pipeline calls. The rules are in
docs/evaluation.md.
"""
