"""Which triplets: hardness, schedules, the sequencer and offline/online miners."""
