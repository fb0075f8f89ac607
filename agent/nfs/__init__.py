"""EFS on a host: one NFS server (nfs-ganesha, FSAL VFS, NFSv4 on TCP 2049) per mount target.

``section`` reads the controller's ``efs`` section, ``ganesha`` renders a server's configuration (pure),
``storage`` lays out file system data and access point directories, ``server`` runs and supervises the
ganesha processes, and ``reconciler`` converges the host to the section.
"""
