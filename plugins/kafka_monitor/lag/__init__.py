"""Consumer lag: the bounded describe over SSH (one per group per minute, shared with its topics), the Admin-API collector, the parser, and the per-topic pipeline."""
