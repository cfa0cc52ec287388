"""Teacher-forced probes over real code: both models score the same windows once, and every probe reduces them."""
