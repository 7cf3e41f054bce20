"""Consumer lag over SSH: the bounded describe command, running it, parsing its table, the per-topic pipeline."""
