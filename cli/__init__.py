"""`aftersales`: admin commands on the configured case store, one module per command group."""
