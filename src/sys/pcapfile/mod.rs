//! Capture files: streaming pcap/pcapng readers (format by magic number) and a pcapng writer.
