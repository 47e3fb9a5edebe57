"""Tests of the built-in wifi_counter plugin."""
