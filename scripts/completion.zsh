#compdef sky-flows sky-classify sky-filter sky-transform sky-batch sky-s3put sky-encode sky-prom sky-genflows sky-analyzer-sim
# zsh completion for the sky-* tools: each one lists its own flags
# (--generate-bash-completion); anything else completes as a file name.
# make install PREFIX=... installs it as _skyflows in site-functions.
_skyflows() {
	if [[ $PREFIX == -* ]]; then
		local -a flags
		flags=(${(f)"$(${words[1]} ${words[2,CURRENT]} --generate-bash-completion 2> /dev/null)"})
		compadd -a flags
	else
		_files
	fi
}
_skyflows "$@"
