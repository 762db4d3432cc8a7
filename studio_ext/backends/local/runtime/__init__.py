"""The local backend's runtime: one supervisor process per workspace that owns what outlives a kernel."""
