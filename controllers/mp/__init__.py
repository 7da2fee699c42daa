"""MP adapter: inventory, statistics, troubleshooting and health reported to NSX."""
