// Data module
