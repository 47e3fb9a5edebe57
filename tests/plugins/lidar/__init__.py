"""Tests of the built-in lidar plugin."""
