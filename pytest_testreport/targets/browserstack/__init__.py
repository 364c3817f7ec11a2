"""The browserstack target."""
