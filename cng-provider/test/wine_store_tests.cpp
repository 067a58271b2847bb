// vtoken-certsync and the certificate store under Wine: being written.
