"""CCP adapter: NSX DFW policies and groups become Antrea policies; realization goes back to NSX."""
