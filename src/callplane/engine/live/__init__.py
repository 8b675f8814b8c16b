"""The live call: the session (events in, commands out), the conductor, agent runtimes, telephony."""
