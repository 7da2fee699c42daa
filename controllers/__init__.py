"""The adapter's controllers: ``ccp`` (NSX intent -> Antrea policy) and ``mp`` (K8s -> NSX inventory)."""
