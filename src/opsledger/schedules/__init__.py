"""Schedules: a job template launched on a cron expression in a time zone, or once."""
