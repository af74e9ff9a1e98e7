module trustplane/signer

go 1.19
