run
part-init /dev/sda msdos
part-add /dev/sda p 2048 10239
part-add /dev/sda e 10240 -1
part-add /dev/sda l 12288 20479
part-add /dev/sda l 22528 40000
part-set-bootable /dev/sda 1 true
part-set-mbr-id /dev/sda 5 0x8e
part-list /dev/sda
part-disk /dev/sdb gpt
part-list /dev/sdb
part-get-name /dev/sdb 1
part-get-gpt-type /dev/sdb 1
part-disk /dev/sdc msdos
part-list /dev/sdc
part-get-mbr-id /dev/sdc 1
part-init /dev/sdd gpt
part-add /dev/sdd p 34 2047
part-add /dev/sdd p 2048 -34
part-set-name /dev/sdd 1 "bios boot"
part-set-gpt-type /dev/sdd 1 21686148-6449-6E6F-744E-656564454649
part-set-gpt-guid /dev/sdd 2 01234567-89AB-CDEF-0123-456789ABCDEF
part-set-gpt-attributes /dev/sdd 2 4
part-set-bootable /dev/sdd 2 true
part-list /dev/sdd
part-del /dev/sdd 1
part-list /dev/sdd
-part-add /dev/sdd x 100 200
-part-add /dev/sdd p -5 200
-part-init /dev/sdd foo
-part-del /dev/sdd 0
-part-del /dev/sdd 7
-part-set-name /dev/sda 1 foo
-part-add /dev/sdd p 100 200
