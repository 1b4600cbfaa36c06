"""Training frameworks driving a :class:`~ckptscope.watch.Watcher` (``hf``: the Trainer)."""
