"""Termshift's functional core: money, cadences, anchored periods, proration and the contract rules.

Everything here is pure: no I/O, no database, no Temporal. The workflow calls it deterministically
and the activities call it to decide what to write.
"""
