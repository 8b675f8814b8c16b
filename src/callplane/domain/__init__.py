"""Pure domain: vocabularies, rules and value objects. No I/O, no framework, no other layer."""
