"""`python -m engine`: which backends can start here, on what device, or why not."""
import engine

for row in engine.list_backends():
    aliases = f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
    status = f"available: {row['device']}" if row["available"] else f"unavailable: {row['reason']}"
    print(f"{row['name']}{aliases}: {status}")
print(f"default: {engine.get_backend()}")
