"""The search store: the documents kafka-monitor writes and the bulk sink that writes them."""
