"""One module per dashboard tab, plus the keyed table and the screen chrome they share."""
