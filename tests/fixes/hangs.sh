# Waits for something that never comes, like a fix stuck on a prompt.
echo "waiting for the database to come back..."
sleep 600
