"""Tests of the numkeras service against a real uvicorn server and real worker processes."""
