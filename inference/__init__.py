"""Image -> findings -> draft text. The core imports no Django; services/tasks are edges."""
