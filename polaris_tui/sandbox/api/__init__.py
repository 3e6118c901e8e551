"""The sandbox HTTP API at /client/v4, one module per endpoint group."""
