// Placeholder: the replicated key-value state machine lands here.
