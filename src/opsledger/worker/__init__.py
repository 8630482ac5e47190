"""What runs in the background, apart from the domains it serves: job execution (the
embedded pool or Celery workers), the sandboxed job process, the log writer, and the
periodic work domains declare. Domains never import it; it imports them."""
