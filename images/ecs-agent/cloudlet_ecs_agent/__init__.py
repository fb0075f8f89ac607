"""Cloudlet's ECS container agent: runs the Batch attempts the controller places on this instance."""
