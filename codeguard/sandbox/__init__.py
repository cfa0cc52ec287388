"""Running untrusted completions: the narrow channel between the trusted checker and the sample process."""
