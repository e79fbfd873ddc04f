"""VLA policy families behind one interface (:class:`ptrim.models.base.ChunkPolicy`)."""
