"""Cloudlet controller: one AWS-compatible endpoint in front of every service."""
