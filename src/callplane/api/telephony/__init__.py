"""Routes the carriers call: status callbacks, media streams, incoming calls."""
