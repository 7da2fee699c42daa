"""An NSX Manager simulator over HTTP(S) for tests and the demo."""
