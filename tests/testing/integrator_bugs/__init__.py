"""Three plugins with the bugs an integrator shipped past the old conformance kit.

Each is a small HTTP push counter (``base.CounterPushSource``) with exactly one
defect, in its own module; all import their siblings *relatively*, as a plugin
package does, so the kit must load them as ``package.module:Class`` or as a
``file.py:Class`` inside the package:

- ``arrival_key``: the event key is the hub's arrival time (a retry 1.5 s later is
  stored twice);
- ``blocking_handler``: ``time.sleep(0.3)`` inside the HTTP handler;
- ``swallowed_malformed``: a malformed push is answered ``200 OK`` and counted nowhere.
"""
