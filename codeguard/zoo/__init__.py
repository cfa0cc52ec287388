"""The embedded zoo's training recipes and committed weights (`models/`); models load it by `zoo:NAME` through
`codeguard.models.zoo`."""
