"""The recipes the notebooks call: each turns a preset into results (and caches long ones under runs/)."""
