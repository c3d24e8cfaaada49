"""The lifecycle event producer: file record changes in, events on the bus out."""
