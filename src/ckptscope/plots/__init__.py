"""Shared drawing helpers for the figure catalogue (:mod:`ckptscope.figures`); drawing only."""
